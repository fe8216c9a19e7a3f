output "primary_endpoint" {
  description = "Endpoint for reads and writes (the configuration endpoint in cluster mode)."
  value       = local.primary_endpoint
}

output "reader_endpoint" {
  description = "Endpoint balancing reads over the replicas (the primary endpoint when there are none, or in cluster mode)."
  value       = local.reader_endpoint
}

output "port" {
  description = "TCP port; connections must use TLS."
  value       = local.port
}

output "auth_token" {
  description = "Redis AUTH token of the default user."
  value       = local.auth_token
  sensitive   = true
}

output "connection_url" {
  description = "rediss:// URL including the AUTH token."
  value       = "rediss://:${local.auth_token}@${local.primary_endpoint}:${local.port}"
  sensitive   = true
}

output "node_type" {
  description = "ElastiCache node type chosen for the size."
  value       = local.node_type
}

output "arn" {
  description = "ARN of the replication group."
  value       = terraform_data.replication_group.output.arn
}
