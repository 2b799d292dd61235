variable "environment" {
  description = "The greenswap environment name (the 'environment' key of its config file)."
  type        = string
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "vpc_id" {
  description = "An existing VPC to use. Leave null to create one."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Existing subnets (at least two AZs) when vpc_id is set."
  type        = list(string)
  default     = []
}

variable "vpc_cidr" {
  description = "CIDR of the VPC created when vpc_id is null."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "AZs for the subnets created when vpc_id is null."
  type        = list(string)
  default     = []
}

variable "app_port" {
  description = "Port the app listens on, behind the ALB."
  type        = number
  default     = 8080
}

variable "health_check_path" {
  description = "HTTP path the target groups probe."
  type        = string
  default     = "/healthz"
}

variable "deregistration_delay" {
  description = "Seconds a deregistered target keeps serving its open requests."
  type        = number
  default     = 30
}

variable "base_image_id" {
  description = "The image green starts from when greenswap bakes a patched one."
  type        = string
}

variable "instance_type" {
  description = "Instance type of app hosts."
  type        = string
  default     = "t3.small"
}

variable "ingress_cidrs" {
  description = "Who may reach the ALB's listener."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "ssh_cidrs" {
  description = "Where greenswap runs Ansible from (SSH to the app hosts)."
  type        = list(string)
}

variable "extra_tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
