"""Where work becomes seconds and bytes: model and hardware specs, the iteration cost model, memory plans."""
