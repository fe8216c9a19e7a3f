# Every resource is a terraform_data record standing in for an aws provider resource: it carries the same inputs,
# and the outputs are computed the way ElastiCache computes them, so the module plans offline.

locals {
  node_type = {
    small  = "cache.t4g.small"
    medium = "cache.r7g.large"
    large  = "cache.r7g.2xlarge"
  }[var.size]

  port = 6379

  # ElastiCache endpoints are <prefix>.<id>.<account-and-region hash>.<region-short>.cache.amazonaws.com.
  endpoint_suffix  = "${var.name}.${substr(sha1("${var.aws_account_id}/${var.region}"), 0, 6)}.${var.region}.cache.amazonaws.com"
  primary_endpoint = var.cluster_mode ? "clustercfg.${local.endpoint_suffix}" : "master.${local.endpoint_suffix}"
  reader_endpoint  = var.cluster_mode || var.replicas_per_shard == 0 ? local.primary_endpoint : "replica.${local.endpoint_suffix}"

  # Derived rather than random so that plans are reproducible offline; the value only ever leaves Terraform
  # through the sensitive outputs.
  auth_token = substr(sha256("${var.aws_account_id}/${var.region}/${var.name}/auth"), 0, 40)
}

resource "terraform_data" "subnet_group" {
  input = {
    name = "${var.name}-cache"
    tags = var.tags
  }
}

resource "terraform_data" "parameter_group" {
  input = {
    name   = "${var.name}-redis${replace(var.engine_version, ".", "")}"
    family = "redis7"
    parameters = {
      "maxmemory-policy"       = var.eviction_policy
      "cluster-enabled"        = var.cluster_mode ? "yes" : "no"
      "notify-keyspace-events" = ""
    }
  }
}

resource "terraform_data" "replication_group" {
  # Turning cluster mode on or off cannot be done in place.
  triggers_replace = [var.cluster_mode]

  input = {
    id                         = var.name
    engine_version             = var.engine_version
    node_type                  = local.node_type
    num_node_groups            = var.shards
    replicas_per_node_group    = var.replicas_per_shard
    automatic_failover_enabled = var.replicas_per_shard > 0
    transit_encryption_enabled = true
    at_rest_encryption_enabled = true
    maintenance_window         = var.maintenance_window
    parameter_group            = terraform_data.parameter_group.output.name
    subnet_group               = terraform_data.subnet_group.output.name
    arn                        = "arn:aws:elasticache:${var.region}:${var.aws_account_id}:replicationgroup:${var.name}"
    tags                       = var.tags
  }

  lifecycle {
    precondition {
      condition     = var.cluster_mode || var.shards == 1
      error_message = "shards > 1 requires cluster_mode = true."
    }
  }
}

resource "terraform_data" "shard" {
  count = var.shards

  input = {
    replication_group = terraform_data.replication_group.output.id
    node_group_id     = format("%04d", count.index + 1)
    nodes             = 1 + var.replicas_per_shard
  }
}
