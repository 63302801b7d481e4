"""Building one registration: identity numbers, local times, code lists, variables, the XML message and its schema files."""
