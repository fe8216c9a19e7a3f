variable "name" {
  type        = string
  description = "Replication group id, unique per region and account; conventionally <namespace>-<name>."

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", var.name))
    error_message = "name must start with a letter and contain only lower-case letters, digits and '-', at most 40 characters."
  }
}

variable "region" {
  type        = string
  description = "AWS region, e.g. eu-west-1."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "aws_account_id" {
  type        = string
  description = "AWS account the cache is created in."

  validation {
    condition     = can(regex("^[0-9]{12}$", var.aws_account_id))
    error_message = "aws_account_id must be the 12-digit AWS account number."
  }
}

variable "size" {
  type        = string
  description = "T-shirt size of each node: small (cache.t4g.small), medium (cache.r7g.large) or large (cache.r7g.2xlarge)."
  default     = "small"

  validation {
    condition     = contains(["small", "medium", "large"], var.size)
    error_message = "size must be one of small, medium, large."
  }
}

variable "engine_version" {
  type        = string
  description = "Redis OSS engine version."
  default     = "7.1"

  validation {
    condition     = contains(["7.0", "7.1"], var.engine_version)
    error_message = "engine_version must be 7.0 or 7.1."
  }
}

variable "cluster_mode" {
  type        = bool
  description = "Shard the keyspace across several node groups (Redis Cluster); clients must support cluster mode."
  default     = false
}

variable "shards" {
  type        = number
  description = "Number of node groups. More than one requires cluster_mode."
  default     = 1

  validation {
    condition     = var.shards == floor(var.shards) && var.shards >= 1 && var.shards <= 10
    error_message = "shards must be a whole number between 1 and 10."
  }
}

variable "replicas_per_shard" {
  type        = number
  description = "Read replicas per node group; at least one enables automatic failover."
  default     = 1

  validation {
    condition     = var.replicas_per_shard == floor(var.replicas_per_shard) && var.replicas_per_shard >= 0 && var.replicas_per_shard <= 5
    error_message = "replicas_per_shard must be a whole number between 0 and 5."
  }
}

variable "eviction_policy" {
  type        = string
  description = "maxmemory-policy: what Redis evicts when memory is full."
  default     = "volatile-lru"

  validation {
    condition     = contains(["volatile-lru", "allkeys-lru", "volatile-lfu", "allkeys-lfu", "volatile-ttl", "noeviction"], var.eviction_policy)
    error_message = "eviction_policy must be one of volatile-lru, allkeys-lru, volatile-lfu, allkeys-lfu, volatile-ttl, noeviction."
  }
}

variable "maintenance_window" {
  type        = string
  description = "Weekly UTC maintenance window, e.g. sun:03:00-sun:04:00."
  default     = "sun:03:00-sun:04:00"

  validation {
    condition     = can(regex("^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$", var.maintenance_window))
    error_message = "maintenance_window must look like sun:03:00-sun:04:00 (UTC)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every AWS resource (cost allocation, ownership)."
  default     = {}
}
