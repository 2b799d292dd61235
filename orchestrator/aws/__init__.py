"""AWS: what greenswap reads from Terraform, and the boto3 side of the AWS provider,
ALB and lease (see docs/aws.md)."""
