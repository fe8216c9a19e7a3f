terraform {
  # optional() object attributes with defaults need >= 1.3; 1.5 is the oldest release the platform still supports.
  required_version = ">= 1.5"

  # No required_providers: the module only uses the built-in terraform_data resource, so it plans and applies
  # offline (in the operator's in-process runner and in CI) without downloading anything.
}
