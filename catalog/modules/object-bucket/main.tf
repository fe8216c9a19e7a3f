# Every resource is a terraform_data record standing in for an aws provider resource: it carries the same inputs,
# and the outputs are computed the way S3 computes them, so the module plans offline.

locals {
  arn         = "arn:aws:s3:::${var.name}"
  domain_name = "${var.name}.s3.${var.region}.amazonaws.com"
}

resource "terraform_data" "bucket" {
  # A bucket cannot be renamed or moved to another region.
  triggers_replace = [var.name, var.region]

  input = {
    name   = var.name
    region = var.region
    arn    = local.arn
    tags   = var.tags
  }
}

resource "terraform_data" "encryption" {
  input = {
    bucket        = terraform_data.bucket.output.name
    sse_algorithm = var.encryption
    bucket_key    = var.encryption == "aws:kms"
  }
}

resource "terraform_data" "public_access_block" {
  input = {
    bucket                  = terraform_data.bucket.output.name
    block_public_acls       = true
    ignore_public_acls      = true
    block_public_policy     = !var.public_read
    restrict_public_buckets = !var.public_read
  }
}

resource "terraform_data" "versioning" {
  count = var.versioning ? 1 : 0

  input = {
    bucket = terraform_data.bucket.output.name
    status = "Enabled"
  }
}

resource "terraform_data" "lifecycle" {
  count = var.expire_after_days > 0 ? 1 : 0

  input = {
    bucket = terraform_data.bucket.output.name
    rules = [{
      id                            = "expire-objects"
      expiration_days               = var.expire_after_days
      noncurrent_version_expiration = var.versioning ? var.expire_after_days : null
      abort_incomplete_upload_days  = 7
    }]
  }
}

resource "terraform_data" "cors" {
  count = length(var.cors_allowed_origins) > 0 ? 1 : 0

  input = {
    bucket          = terraform_data.bucket.output.name
    allowed_methods = ["GET", "HEAD"]
    allowed_origins = var.cors_allowed_origins
    max_age_seconds = 3600
  }
}

resource "terraform_data" "public_read_policy" {
  count = var.public_read ? 1 : 0

  input = {
    bucket = terraform_data.bucket.output.name
    policy = jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Sid       = "PublicRead"
        Effect    = "Allow"
        Principal = "*"
        Action    = ["s3:GetObject"]
        Resource  = ["${local.arn}/*"]
      }]
    })
  }

  depends_on = [terraform_data.public_access_block]
}
