# Every resource is a terraform_data record standing in for an aws provider resource: it carries the same inputs,
# and the outputs are computed the way RDS computes them, so the module plans offline.

locals {
  instance_class = {
    small  = "db.t4g.medium"
    medium = "db.r6g.large"
    large  = "db.r6g.2xlarge"
  }[var.size]

  port     = 5432
  username = "app_${var.database_name}"

  # RDS endpoints are <identifier>.<account-and-region hash>.<region>.rds.amazonaws.com.
  endpoint_suffix = "${substr(sha1("${var.aws_account_id}/${var.region}"), 0, 12)}.${var.region}.rds.amazonaws.com"
  endpoint        = "${var.name}.${local.endpoint_suffix}"
  # The replica's identifier must also fit in 63 characters.
  replica_identifier = "${trimsuffix(substr(var.name, 0, 60), "-")}-ro"
  reader_endpoint    = var.high_availability ? "${local.replica_identifier}.${local.endpoint_suffix}" : local.endpoint

  # Derived rather than random so that plans are reproducible offline and a rotation is an explicit input change
  # (password_version); the value only ever leaves Terraform through the sensitive outputs.
  password = substr(sha256("${var.region}/${var.name}/${var.database_name}/v${var.password_version}"), 0, 32)

  deletion_protection = var.environment == "production"
}

resource "terraform_data" "subnet_group" {
  input = {
    name = "${var.name}-db"
    tags = var.tags
  }
}

resource "terraform_data" "parameter_group" {
  input = {
    name   = "${var.name}-pg${var.engine_version}"
    family = "postgres${var.engine_version}"
    parameters = {
      "rds.force_ssl"              = "1"
      "log_min_duration_statement" = "500"
    }
  }
}

resource "terraform_data" "security_group" {
  input = {
    name = "${var.name}-db"
    port = local.port
    tags = var.tags
  }
}

resource "terraform_data" "ingress_rule" {
  for_each = toset(var.allowed_cidrs)

  input = {
    security_group = terraform_data.security_group.output.name
    cidr           = each.value
    port           = local.port
  }
}

resource "terraform_data" "instance" {
  # Changing the engine major version or the database name replaces the instance, as RDS does.
  triggers_replace = [var.engine_version, var.database_name]

  input = {
    identifier            = var.name
    engine                = "postgres"
    engine_version        = var.engine_version
    instance_class        = local.instance_class
    allocated_storage     = var.storage_gb
    max_allocated_storage = var.storage_gb * 4
    multi_az              = var.high_availability
    database              = var.database_name
    username              = local.username
    backup_retention_days = var.backup.retention_days
    backup_window         = var.backup.window
    deletion_protection   = local.deletion_protection
    parameter_group       = terraform_data.parameter_group.output.name
    subnet_group          = terraform_data.subnet_group.output.name
    security_group        = terraform_data.security_group.output.name
    endpoint              = local.endpoint
    arn                   = "arn:aws:rds:${var.region}:${var.aws_account_id}:db:${var.name}"
    tags                  = var.tags
  }
}

resource "terraform_data" "read_replica" {
  count = var.high_availability ? 1 : 0

  input = {
    identifier     = local.replica_identifier
    source         = terraform_data.instance.output.identifier
    instance_class = local.instance_class
    endpoint       = local.reader_endpoint
  }
}
