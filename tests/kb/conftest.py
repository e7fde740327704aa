from tests.kb.helpers import sample_settings, sample_work_dir  # noqa: F401  (fixtures)
