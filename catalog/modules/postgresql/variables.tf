variable "name" {
  type        = string
  description = "Instance identifier, unique per region and account; conventionally <namespace>-<database>."

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be an RDS identifier: a letter, then lower-case letters, digits and single '-', at most 63 characters, not ending in '-'."
  }
}

variable "database_name" {
  type        = string
  description = "Name of the database created on the instance; the application user owns it."

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{2,30}$", var.database_name))
    error_message = "database_name must be 3-31 characters of lower-case letters, digits and '_', starting with a letter."
  }
}

variable "environment" {
  type        = string
  description = "Environment the instance belongs to; production instances get deletion protection."

  validation {
    condition     = contains(["dev", "staging", "production"], var.environment)
    error_message = "environment must be one of dev, staging, production."
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
  description = "AWS account the instance is created in."

  validation {
    condition     = can(regex("^[0-9]{12}$", var.aws_account_id))
    error_message = "aws_account_id must be the 12-digit AWS account number."
  }
}

variable "size" {
  type        = string
  description = "T-shirt size: small (db.t4g.medium), medium (db.r6g.large) or large (db.r6g.2xlarge)."
  default     = "small"

  validation {
    condition     = contains(["small", "medium", "large"], var.size)
    error_message = "size must be one of small, medium, large."
  }
}

variable "engine_version" {
  type        = string
  description = "PostgreSQL major version."
  default     = "16"

  validation {
    condition     = contains(["14", "15", "16"], var.engine_version)
    error_message = "engine_version must be one of the supported major versions 14, 15, 16."
  }
}

variable "storage_gb" {
  type        = number
  description = "Allocated storage in GiB; storage autoscaling may grow it up to four times this value."
  default     = 20

  validation {
    condition     = var.storage_gb == floor(var.storage_gb) && var.storage_gb >= 20 && var.storage_gb <= 2000
    error_message = "storage_gb must be a whole number of GiB between 20 and 2000."
  }
}

variable "high_availability" {
  type        = bool
  description = "Run a synchronous standby in a second availability zone (Multi-AZ)."
  default     = false
}

variable "backup" {
  type = object({
    retention_days = number
    window         = optional(string, "03:00-04:00")
  })
  description = "Automated backups: days to keep them and the daily UTC window in which they are taken."
  default = {
    retention_days = 7
  }

  validation {
    condition     = var.backup.retention_days >= 1 && var.backup.retention_days <= 35
    error_message = "backup.retention_days must be between 1 and 35."
  }

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", var.backup.window))
    error_message = "backup.window must be a UTC time range such as 03:00-04:00."
  }
}

variable "allowed_cidrs" {
  type        = list(string)
  description = "Extra CIDR ranges allowed to connect, besides the cluster's own subnets."
  default     = []

  validation {
    condition     = alltrue([for cidr in var.allowed_cidrs : can(cidrhost(cidr, 0))])
    error_message = "allowed_cidrs must contain only CIDR ranges such as 10.20.0.0/16."
  }
}

variable "password_version" {
  type        = number
  description = "Increase to rotate the application user's password."
  default     = 1
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every AWS resource (cost allocation, ownership)."
  default     = {}
}
