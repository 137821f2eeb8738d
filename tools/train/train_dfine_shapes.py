#!/usr/bin/env python3
"""Trains the small demo D-FINE in models/demo/dfine-shapes on synthetic shapes (tools/train/shapes_dataset.py).

The model is a stock transformers DFineForObjectDetection (3 labels: circle, square, triangle, the same ids as
the other shapes demos) with a narrow HGNetV2-B0-shaped backbone trained from scratch, so it loads like the
published D-FINE checkpoints (ustc-community/dfine-*) and exercises their code paths: HGNetV2's joined stem
branches, HG blocks of plain and light (1x1 + depthwise) convolutions, learnable affine blocks and depthwise
downsampling; the encoder's RepNCSPELAN4 fusion and SCDown; the gated decoder with per-level point counts,
fine-grained distribution refinement and the localization quality estimator.

    python tools/train/train_dfine_shapes.py                   # defaults: 28 minutes on one CPU thread
    python tools/train/train_dfine_shapes.py --minutes 1 --out /tmp/dfine-shapes

Everything but the model is tools/train/train_rtdetr_shapes.py's: fresh images every step, transformers' own
loss (D-FINE's adds the fine-grained localization and decoupled distillation terms to RT-DETR's), COCO AP on
tests/fixtures/shapes-eval every --eval-every steps keeping the best AP50, RTDetrImageProcessorPil at 128 x 128,
He-initialised convolutions, and trainable batch norms in the backbone that are frozen again with the learned
statistics on saving (freeze_backbone_batch_norms true, as the published configs). d_model equals the
encoder's width, so the decoder's input projections are identities.
"""

import os

import torch

import train_rtdetr_shapes as rt
from transformers import DFineConfig, DFineForObjectDetection, HGNetV2Config
from transformers.models.d_fine.modeling_d_fine import DFineFrozenBatchNorm2d, replace_batch_norm


def build_config(args):
    labels = rt.shapes_dataset.CATEGORIES
    stem, widths, mids = 16, [32, 64, 128, 256], [16, 16, 32, 64]  # HGNetV2-B0's layout, narrower stages
    backbone = HGNetV2Config(
        num_channels=3, embedding_size=stem, hidden_sizes=widths, depths=[1, 1, 2, 1], hidden_act="relu",
        stem_channels=[3, stem, stem], stage_in_channels=[stem] + widths[:3], stage_mid_channels=mids,
        stage_out_channels=widths, stage_num_blocks=[1, 1, 2, 1], stage_downsample=[False, True, True, True],
        stage_light_block=[False, False, True, True], stage_kernel_size=[3, 3, 5, 5],
        stage_numb_of_layers=[3, 3, 3, 3], use_learnable_affine_block=True,
        out_features=["stage2", "stage3", "stage4"], out_indices=[2, 3, 4],
    )
    return DFineConfig(
        backbone_config=backbone, freeze_backbone_batch_norms=True, encoder_in_channels=widths[1:],
        encoder_hidden_dim=args.d_model, hidden_expansion=0.5, depth_mult=0.34, d_model=args.d_model,
        decoder_in_channels=[args.d_model] * 3, num_feature_levels=3, decoder_n_points=args.points,
        encoder_attention_heads=args.heads, decoder_attention_heads=args.heads, encoder_ffn_dim=args.ffn,
        decoder_ffn_dim=args.ffn, decoder_layers=args.decoder_layers, eval_idx=-1, num_queries=args.queries,
        num_denoising=args.denoising, anchor_image_size=None, num_labels=len(labels),
        id2label={i: n for i, n in enumerate(labels)}, label2id={n: i for i, n in enumerate(labels)},
    )


def main():
    parser = rt.base_parser("Train the demo shapes D-FINE.",
                            os.path.join(rt.REPO_ROOT, "models", "demo", "dfine-shapes"), 28.0)
    parser.add_argument("--d-model", type=int, default=64, help="also the encoder's hidden size")
    parser.add_argument("--ffn", type=int, default=256)
    parser.add_argument("--points", type=int, nargs=3, default=[3, 6, 3], help="sampling points per level")
    # Ten times RT-DETR's rate: at 2e-4 this narrow model sat on one average box for 1000+ steps.
    parser.set_defaults(lr=2e-3, backbone_lr=2e-3)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = DFineForObjectDetection(build_config(args))
    rt.reset_convolutions_and_norms(model, DFineFrozenBatchNorm2d)
    rt.unfreeze_batch_norm(model.model.backbone.model, DFineFrozenBatchNorm2d)
    model.to(device).train()  # every parameter trains but the decoder's fixed up and reg_scale
    processor = rt.make_processor()
    rt.train(model, processor, args, lambda m: rt.save_checkpoint(m, processor, args.out, replace_batch_norm),
             log_terms=("loss_vfl", "loss_bbox", "loss_giou", "loss_fgl_aux_1", "loss_ddf_aux_1"))


if __name__ == "__main__":
    main()
