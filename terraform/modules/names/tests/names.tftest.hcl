run "names_follow_the_environment" {
  command = plan

  variables {
    environment = "shop-prod"
    extra_tags  = { team = "infra" }
  }

  assert {
    condition     = output.prefix == "gs-shop-prod"
    error_message = "prefix is not gs-<environment>"
  }

  assert {
    condition     = output.target_group_names["green"] == "gs-shop-prod-green"
    error_message = "green's target group name is wrong"
  }

  assert {
    condition     = output.tags["greenswap:owner"] == "terraform" && output.tags["team"] == "infra"
    error_message = "tags must mark Terraform's ownership and keep extra tags"
  }
}

run "target_group_names_fit_aws_limit" {
  command = plan

  variables {
    environment = "a-very-long-env-name"
  }

  assert {
    condition     = alltrue([for n in values(output.target_group_names) : length(n) <= 32])
    error_message = "a target group name is over 32 characters"
  }
}

run "a_bad_environment_name_is_refused" {
  command = plan

  variables {
    environment = "Prod_1"
  }

  expect_failures = [var.environment]
}
