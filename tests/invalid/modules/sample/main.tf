variable "name" {
  type        = string
  description = "Database name."
  validation {
    condition     = length(var.name) <= 40
    error_message = "The name must be at most 40 characters."
  }
}

variable "size" {
  type        = string
  default     = "small"
  description = "Instance size."
}

resource "terraform_data" "database" {
  input = { name = var.name, size = var.size }
}

output "endpoint" {
  value       = "${var.name}.db.internal"
  description = "Host name clients connect to."
}

output "password" {
  value     = sha256(var.name)
  sensitive = true
}
