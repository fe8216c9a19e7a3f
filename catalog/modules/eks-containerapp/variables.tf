variable "name" {
  type        = string
  description = "Application name. Becomes the Deployment, Service and ServiceAccount name, and part of the IAM role name."

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", var.name))
    error_message = "name must be a DNS label of at most 40 characters: lower-case letters, digits and '-', starting with a letter."
  }
}

variable "namespace" {
  type        = string
  description = "Kubernetes namespace the application runs in (the requesting team's namespace)."

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be an RFC 1123 label (lower-case letters, digits and '-', at most 63 characters)."
  }
}

variable "image" {
  type        = string
  description = "Container image, pinned by tag or digest, e.g. registry.example.internal/orders/api:1.4.2."

  validation {
    condition     = can(regex("^([a-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._/-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$", var.image))
    error_message = "image must be a full image reference with a tag or a sha256 digest, e.g. registry.example.internal/orders/api:1.4.2."
  }

  validation {
    condition     = !endswith(var.image, ":latest")
    error_message = "image must not use the mutable ':latest' tag; pin a version or a digest so rollbacks are reproducible."
  }
}

variable "cluster_name" {
  type        = string
  description = "Name of the EKS cluster of the target environment."
}

variable "region" {
  type        = string
  description = "AWS region of the cluster, e.g. eu-west-1."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "aws_account_id" {
  type        = string
  description = "AWS account that owns the cluster; the application's IAM role (IRSA) is created there."

  validation {
    condition     = can(regex("^[0-9]{12}$", var.aws_account_id))
    error_message = "aws_account_id must be the 12-digit AWS account number."
  }
}

variable "domain" {
  type        = string
  description = "Base DNS domain of the environment; the public hostname is <name>-<namespace>.<domain>."
}

variable "replicas" {
  type        = number
  description = "Number of pods. Two or more also creates a PodDisruptionBudget."
  default     = 2

  validation {
    condition     = var.replicas == floor(var.replicas) && var.replicas >= 1 && var.replicas <= 20
    error_message = "replicas must be a whole number between 1 and 20."
  }
}

variable "resources" {
  type = object({
    cpu    = string
    memory = string
  })
  description = "CPU and memory request of each pod as Kubernetes quantities; the limit is twice the request."
  default = {
    cpu    = "250m"
    memory = "256Mi"
  }

  validation {
    condition     = can(regex("^([1-9][0-9]*m|[0-9]+(\\.[0-9]+)?)$", var.resources.cpu)) && can(regex("^[1-9][0-9]*(Mi|Gi)$", var.resources.memory))
    error_message = "resources.cpu must look like 250m or 1.5, and resources.memory like 512Mi or 2Gi."
  }
}

variable "port" {
  type        = number
  description = "Port the container listens on; the Service exposes it as port 80."
  default     = 8080

  validation {
    condition     = var.port == floor(var.port) && var.port >= 1024 && var.port <= 65535
    error_message = "port must be an unprivileged port between 1024 and 65535."
  }
}

variable "health_check_path" {
  type        = string
  description = "HTTP path used by the readiness and liveness probes."
  default     = "/healthz"

  validation {
    condition     = startswith(var.health_check_path, "/")
    error_message = "health_check_path must start with '/'."
  }
}

variable "env" {
  type        = map(string)
  description = "Plain environment variables of the container. Never put secrets here: use env_from_secrets."
  default     = {}

  validation {
    condition     = alltrue([for key in keys(var.env) : can(regex("^[A-Z_][A-Z0-9_]*$", key))])
    error_message = "env keys must be upper-case identifiers such as DATABASE_HOST."
  }
}

variable "env_from_secrets" {
  type        = list(string)
  description = "Names of Secrets in the namespace whose keys are added to the container environment."
  default     = []
}

variable "ingress" {
  type = object({
    enabled = bool
    path    = optional(string, "/")
  })
  description = "Public ingress through the shared ALB. When disabled, the app is only reachable inside the cluster."
  default = {
    enabled = false
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every AWS resource and as labels to Kubernetes objects (cost allocation, ownership)."
  default     = {}
}
