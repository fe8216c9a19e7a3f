output "bucket_name" {
  description = "Name of the bucket."
  value       = terraform_data.bucket.output.name
}

output "bucket_arn" {
  description = "ARN of the bucket, for IAM policies."
  value       = terraform_data.bucket.output.arn
}

output "bucket_domain_name" {
  description = "Regional domain name of the bucket."
  value       = local.domain_name
}

output "bucket_url" {
  description = "HTTPS URL of the bucket root; anonymous reads work only when public_read is on."
  value       = "https://${local.domain_name}/"
}

output "region" {
  description = "Region of the bucket."
  value       = var.region
}

output "public_read" {
  description = "Whether anonymous reads are allowed."
  value       = var.public_read
}
