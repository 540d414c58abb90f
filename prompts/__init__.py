"""The prompt templates: YAML files (one per prompt family, zh and en) and prompt variants in `variants/`, shipped
as package data and read by assistant.prompts. No Python lives here."""
