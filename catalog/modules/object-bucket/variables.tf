variable "name" {
  type        = string
  description = "Globally unique bucket name; conventionally <tier>-<namespace>-<name>."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.name))
    error_message = "name must be 3-63 characters of lower-case letters, digits and '-', starting and ending with a letter or digit."
  }

  validation {
    condition     = !startswith(var.name, "xn--") && !endswith(var.name, "-s3alias")
    error_message = "name must not start with 'xn--' or end with '-s3alias' (reserved by S3)."
  }
}

variable "region" {
  type        = string
  description = "AWS region of the bucket, e.g. eu-west-1."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "versioning" {
  type        = bool
  description = "Keep previous versions of overwritten and deleted objects."
  default     = true
}

variable "public_read" {
  type        = bool
  description = "Allow anonymous reads of every object (static assets). Turns off the public access block."
  default     = false
}

variable "expire_after_days" {
  type        = number
  description = "Delete objects this many days after creation; 0 keeps them forever."
  default     = 0

  validation {
    condition     = var.expire_after_days == floor(var.expire_after_days) && var.expire_after_days >= 0 && var.expire_after_days <= 3650
    error_message = "expire_after_days must be a whole number between 0 (never) and 3650."
  }
}

variable "cors_allowed_origins" {
  type        = list(string)
  description = "Browser origins allowed to GET objects cross-origin, e.g. https://shop.example.com."
  default     = []

  validation {
    condition     = alltrue([for origin in var.cors_allowed_origins : can(regex("^https://[a-z0-9.-]+(:[0-9]+)?$", origin))])
    error_message = "cors_allowed_origins must contain only https origins without a path, e.g. https://shop.example.com."
  }
}

variable "encryption" {
  type        = string
  description = "Server-side encryption: aws:kms (the account's S3 KMS key) or AES256 (S3-managed keys)."
  default     = "aws:kms"

  validation {
    condition     = contains(["aws:kms", "AES256"], var.encryption)
    error_message = "encryption must be aws:kms or AES256."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to the bucket (cost allocation, ownership, data classification)."
  default     = {}
}
