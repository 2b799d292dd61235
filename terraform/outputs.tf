# Everything greenswap reads (orchestrator/aws/outputs.py, REQUIRED). A test parses
# this file and fails if one of those is missing.

output "region" {
  value = var.region
}

output "environment" {
  value = var.environment
}

output "name_prefix" {
  value = module.names.prefix
}

output "vpc_id" {
  value = local.vpc_id
}

output "subnet_ids" {
  value = local.subnet_ids
}

output "listener_arn" {
  value = aws_lb_listener.http.arn
}

output "alb_dns_name" {
  value = aws_lb.this.dns_name
}

output "target_group_arns" {
  description = "Target group ARN per colour: blue and green."
  value       = { for color, tg in aws_lb_target_group.color : color => tg.arn }
}

output "launch_template_id" {
  value = aws_launch_template.app.id
}

output "app_security_group_id" {
  value = aws_security_group.app.id
}

output "lease_table" {
  value = aws_dynamodb_table.lease.name
}
