"""Role prompt templates (markdown with {placeholders})."""
