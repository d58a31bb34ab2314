"""Fine-tuning the frame backbone end to end on videos (``docs/finetune.md``)."""

from vidalign.finetuning.run import BACKBONE_FILE, FinetuneConfig, finetune, finetune_settings

__all__ = ["BACKBONE_FILE", "FinetuneConfig", "finetune", "finetune_settings"]
