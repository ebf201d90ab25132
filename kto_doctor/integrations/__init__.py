"""Integrations with training frameworks. Each submodule imports its framework; this package imports none.

- `kto_doctor.integrations.transformers.KtoDoctorCallback`: the rules inside a Hugging Face `Trainer`.
"""
