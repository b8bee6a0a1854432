"""LTI 1.3 as one feature: the records a launch keeps (models), the tool that verifies launches and
holds the keys (tool), the HTTP endpoints and middleware of `casebot serve` (routes), and `casebot
lti` (cli)."""
