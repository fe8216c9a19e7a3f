# Every resource is a terraform_data record standing in for a kubernetes or aws provider resource: it carries the
# same inputs, and the outputs are computed the way the cloud computes them, so the module plans offline.

locals {
  labels = merge(var.tags, {
    "app.kubernetes.io/name"       = var.name
    "app.kubernetes.io/instance"   = "${var.namespace}-${var.name}"
    "app.kubernetes.io/managed-by" = "platform-orchestrator"
  })

  service_host = "${var.name}.${var.namespace}.svc.cluster.local"
  hostname     = var.ingress.enabled ? "${var.name}-${var.namespace}.${var.domain}" : ""

  # The AWS Load Balancer Controller names a load balancer k8s-<namespace>-<name>-<hash>; the shape is reproduced
  # deterministically so the DNS record that points at it can be planned before the ALB exists.
  load_balancer_hash     = substr(sha1("${var.cluster_name}/${var.namespace}/${var.name}"), 0, 10)
  load_balancer_hostname = var.ingress.enabled ? "k8s-${substr(var.namespace, 0, 8)}-${substr(var.name, 0, 8)}-${local.load_balancer_hash}.${var.region}.elb.amazonaws.com" : ""

  # IAM role names are limited to 64 characters.
  iam_role_name = substr("${var.cluster_name}-${var.namespace}-${var.name}", 0, 64)
  iam_role_arn  = "arn:aws:iam::${var.aws_account_id}:role/${local.iam_role_name}"

  limits = {
    cpu    = endswith(var.resources.cpu, "m") ? "${tonumber(trimsuffix(var.resources.cpu, "m")) * 2}m" : tostring(tonumber(var.resources.cpu) * 2)
    memory = "${tonumber(regex("^[0-9]+", var.resources.memory)) * 2}${regex("(Mi|Gi)$", var.resources.memory)[0]}"
  }
}

resource "terraform_data" "iam_role" {
  input = {
    name = local.iam_role_name
    arn  = local.iam_role_arn
    # IRSA: only this ServiceAccount of this cluster may assume the role.
    assume_role_subject = "system:serviceaccount:${var.namespace}:${var.name}"
    cluster             = var.cluster_name
    tags                = var.tags
  }
}

resource "terraform_data" "service_account" {
  input = {
    name      = var.name
    namespace = var.namespace
    labels    = local.labels
    annotations = {
      "eks.amazonaws.com/role-arn" = terraform_data.iam_role.output.arn
    }
  }
}

resource "terraform_data" "deployment" {
  input = {
    name            = var.name
    namespace       = var.namespace
    labels          = local.labels
    replicas        = var.replicas
    image           = var.image
    port            = var.port
    requests        = var.resources
    limits          = local.limits
    env             = var.env
    env_from        = var.env_from_secrets
    probe_path      = var.health_check_path
    service_account = terraform_data.service_account.output.name
  }
}

resource "terraform_data" "pod_disruption_budget" {
  count = var.replicas >= 2 ? 1 : 0

  input = {
    name           = var.name
    namespace      = var.namespace
    min_available  = var.replicas - 1
    selector_label = local.labels["app.kubernetes.io/instance"]
  }
}

resource "terraform_data" "service" {
  input = {
    name        = var.name
    namespace   = var.namespace
    port        = 80
    target_port = var.port
    selector    = local.labels["app.kubernetes.io/instance"]
  }
}

resource "terraform_data" "ingress" {
  count = var.ingress.enabled ? 1 : 0

  input = {
    name                   = var.name
    namespace              = var.namespace
    host                   = local.hostname
    path                   = var.ingress.path
    service                = terraform_data.service.output.name
    load_balancer_hostname = local.load_balancer_hostname
    annotations = {
      "alb.ingress.kubernetes.io/group.name"       = var.namespace
      "alb.ingress.kubernetes.io/healthcheck-path" = var.health_check_path
      "alb.ingress.kubernetes.io/scheme"           = "internet-facing"
    }
  }
}
