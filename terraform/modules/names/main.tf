# Names and tags shared by Terraform and greenswap: greenswap finds what Terraform
# made, and tags what it makes itself, by these. No provider: it plans offline.

variable "environment" {
  description = "The greenswap environment name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.environment))
    error_message = "environment must be 1-20 characters: lower-case letters, digits and '-', starting with a letter."
  }
}

variable "extra_tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

locals {
  prefix = "gs-${var.environment}"
  colors = ["blue", "green"]
}

output "prefix" {
  description = "Prefix of every name."
  value       = local.prefix
}

output "tags" {
  description = "Tags on every resource Terraform owns."
  value = merge(var.extra_tags, {
    "greenswap:environment" = var.environment
    "greenswap:owner"       = "terraform"
  })
}

output "target_group_names" {
  description = "Target group name per colour (at most 32 characters, as AWS requires)."
  value       = { for c in local.colors : c => substr("${local.prefix}-${c}", 0, 32) }
}

output "lease_table" {
  description = "DynamoDB table of the one-rollout-per-environment lease."
  value       = "${local.prefix}-lease"
}
