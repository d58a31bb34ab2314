"""Fine-tuning the frame backbone end to end on videos (``docs/finetune.md``)."""

from vidalign.finetune.finetuning import BACKBONE_FILE, FinetuneConfig, finetune, finetune_settings

__all__ = ["BACKBONE_FILE", "FinetuneConfig", "finetune", "finetune_settings"]
