# greenswap's long-lived base: network, ALB with a target group per colour,
# security groups, the app hosts' launch template and instance profile, and the
# lease table. Terraform owns all of it; greenswap reads `terraform output -json`
# and only creates (and tags) green's Auto Scaling groups and images itself.
#
# One exception, by design: greenswap flips the listener's default action between
# the colours' target groups, so Terraform ignores changes to it after creation.

module "names" {
  source      = "./modules/names"
  environment = var.environment
  extra_tags  = var.extra_tags
}

locals {
  create_vpc = var.vpc_id == null
  vpc_id     = local.create_vpc ? aws_vpc.this[0].id : var.vpc_id
  subnet_ids = local.create_vpc ? aws_subnet.this[*].id : var.subnet_ids
}

# -- network (only when no VPC is given) ------------------------------------------

resource "aws_vpc" "this" {
  count                = local.create_vpc ? 1 : 0
  cidr_block           = var.vpc_cidr
  enable_dns_hostnames = true
  tags                 = { Name = module.names.prefix }
}

resource "aws_internet_gateway" "this" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id
}

resource "aws_subnet" "this" {
  count                   = local.create_vpc ? length(var.availability_zones) : 0
  vpc_id                  = aws_vpc.this[0].id
  availability_zone       = var.availability_zones[count.index]
  cidr_block              = cidrsubnet(var.vpc_cidr, 8, count.index)
  map_public_ip_on_launch = true
  tags                    = { Name = "${module.names.prefix}-${var.availability_zones[count.index]}" }
}

resource "aws_route_table" "public" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this[0].id
  }
}

resource "aws_route_table_association" "public" {
  count          = local.create_vpc ? length(var.availability_zones) : 0
  subnet_id      = aws_subnet.this[count.index].id
  route_table_id = aws_route_table.public[0].id
}

# -- security groups -------------------------------------------------------------

resource "aws_security_group" "alb" {
  name        = "${module.names.prefix}-alb"
  description = "greenswap ${var.environment}: clients to the ALB"
  vpc_id      = local.vpc_id

  ingress {
    description = "HTTP from clients"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = var.ingress_cidrs
  }

  egress {
    description = "to the app hosts"
    from_port   = var.app_port
    to_port     = var.app_port
    protocol    = "tcp"
    cidr_blocks = local.create_vpc ? [var.vpc_cidr] : ["0.0.0.0/0"]
  }
}

resource "aws_security_group" "app" {
  name        = "${module.names.prefix}-app"
  description = "greenswap ${var.environment}: app hosts, both colours"
  vpc_id      = local.vpc_id

  ingress {
    description     = "the app, from the ALB only"
    from_port       = var.app_port
    to_port         = var.app_port
    protocol        = "tcp"
    security_groups = [aws_security_group.alb.id]
  }

  ingress {
    description = "SSH, from where greenswap runs Ansible"
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = var.ssh_cidrs
  }

  egress {
    description = "updates and the database"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

# -- load balancer ----------------------------------------------------------------

resource "aws_lb" "this" {
  name               = substr(module.names.prefix, 0, 32)
  load_balancer_type = "application"
  security_groups    = [aws_security_group.alb.id]
  subnets            = local.subnet_ids
}

resource "aws_lb_target_group" "color" {
  for_each             = module.names.target_group_names
  name                 = each.value
  port                 = var.app_port
  protocol             = "HTTP"
  vpc_id               = local.vpc_id
  deregistration_delay = var.deregistration_delay

  health_check {
    path                = var.health_check_path
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = { "greenswap:color" = each.key }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.color["blue"].arn
  }

  lifecycle {
    # greenswap moves traffic between the colours; Terraform must not move it back.
    ignore_changes = [default_action]
  }
}

# -- app hosts ---------------------------------------------------------------------

resource "aws_iam_role" "app" {
  name = "${module.names.prefix}-app"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

# The app hosts need nothing from AWS's APIs: greenswap drives them over SSH. The
# role exists so that operators can attach what their app needs, and no more.
resource "aws_iam_instance_profile" "app" {
  name = "${module.names.prefix}-app"
  role = aws_iam_role.app.name
}

resource "aws_launch_template" "app" {
  name                   = "${module.names.prefix}-app"
  image_id               = var.base_image_id
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.app.id]

  iam_instance_profile {
    arn = aws_iam_instance_profile.app.arn
  }

  metadata_options {
    http_tokens = "required" # IMDSv2 only
  }

  tag_specifications {
    resource_type = "instance"
    tags          = module.names.tags
  }
}

# -- the lease ---------------------------------------------------------------------

resource "aws_dynamodb_table" "lease" {
  name         = module.names.lease_table
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "environment"

  attribute {
    name = "environment"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }
}
