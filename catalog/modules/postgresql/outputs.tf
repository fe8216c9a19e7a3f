output "endpoint" {
  description = "Hostname of the primary instance."
  value       = terraform_data.instance.output.endpoint
}

output "reader_endpoint" {
  description = "Hostname for read-only traffic: the read replica when high_availability is on, else the primary."
  value       = local.reader_endpoint
}

output "port" {
  description = "TCP port of the instance."
  value       = local.port
}

output "database" {
  description = "Name of the application database."
  value       = var.database_name
}

output "username" {
  description = "Application user; owns the database."
  value       = local.username
}

output "password" {
  description = "Password of the application user."
  value       = local.password
  sensitive   = true
}

output "connection_string" {
  description = "libpq connection URI including the password, with TLS required."
  value       = "postgresql://${local.username}:${local.password}@${local.endpoint}:${local.port}/${var.database_name}?sslmode=require"
  sensitive   = true
}

output "instance_class" {
  description = "RDS instance class chosen for the size."
  value       = local.instance_class
}

output "arn" {
  description = "ARN of the instance."
  value       = terraform_data.instance.output.arn
}
