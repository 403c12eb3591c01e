"""Configuration: YAML under our namespaces, validated once at the edge."""
