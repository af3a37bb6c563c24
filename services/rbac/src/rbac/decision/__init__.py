"""The gateway's decision: `/authorize`, answered from in-process state kept fresh by pub/sub."""
