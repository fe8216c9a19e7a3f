output "service_url" {
  description = "In-cluster URL of the application's Service."
  value       = "http://${local.service_host}"
}

output "hostname" {
  description = "Public hostname served by the ingress; empty when ingress is disabled."
  value       = local.hostname
}

output "load_balancer_hostname" {
  description = "DNS name of the load balancer in front of the ingress (a CNAME target); empty when ingress is disabled."
  value       = local.load_balancer_hostname
}

output "iam_role_arn" {
  description = "ARN of the IAM role the pods assume through IRSA; attach AWS permissions to it."
  value       = terraform_data.iam_role.output.arn
}

output "deployment_id" {
  description = "Identifier of the Deployment record, stable for the lifetime of the application."
  value       = terraform_data.deployment.id
}

output "image" {
  description = "The image the Deployment runs."
  value       = terraform_data.deployment.output.image
}
