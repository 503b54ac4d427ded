"""`edgedigits camera`: read handwritten digits live from a camera, stream, video, images or the demo."""

from __future__ import annotations

from pathlib import Path

from ..novelty import DEFAULT_MAX_NOVELTY
from . import backend_name, nonneg_float, nonneg_int, positive_float, positive_int, probability

NAME = "camera"
HELP = "read digits live from a camera, stream, video file, image(s) or the built-in demo"


def add_arguments(p) -> None:
    from ..camera.frames import MAX_RECONNECTS, STALL_TIMEOUT_S  # imports cv2

    p.add_argument(
        "--source",
        default="0",
        help="camera index (default 0), device path, stream URL, GStreamer pipeline (with ' ! '), "
        "video file, image file, folder of images, or 'demo' (synthetic live sheets of digits)",
    )
    p.add_argument(
        "--headless",
        action="store_true",
        help="no preview window (automatic without a display or with headless OpenCV); "
        "without --json the numbers read are printed whenever they change",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per processed frame on stdout (summary goes to stderr)",
    )
    p.add_argument(
        "--save",
        type=Path,
        default=None,
        metavar="OUT.mp4",
        help="write the annotated video, complete even after Ctrl-C: .mp4/.m4v/.mov (H.264 where this "
        "OpenCV can write it, else mp4v), .webm (VP8, 10 frames/s), .avi (Motion JPEG), or no "
        "suffix for one a browser plays (NAME.mp4 in H.264, else NAME.webm); the codec is printed",
    )
    p.add_argument(
        "--save-crops",
        type=Path,
        default=None,
        metavar="DIR",
        help="save every kept 28x28 crop as DIR/<frame>_<i>_label<L>_<confidence>.png",
    )
    p.add_argument("--duration", type=positive_float, default=None, metavar="S", help="stop after S seconds")
    p.add_argument("--max-frames", type=positive_int, default=None, metavar="N", help="stop after N processed frames")
    p.add_argument(
        "--realtime",
        action="store_true",
        help="pace a video file at its frame rate and drop late frames, like a live camera",
    )
    p.add_argument(
        "--min-confidence",
        type=probability,
        default=None,
        metavar="P",
        help="drop results below this confidence as non-digits (default: the model's calibrated "
        "threshold, from its manifest)",
    )
    p.add_argument(
        "--max-novelty",
        type=nonneg_float,
        default=None,
        metavar="D",
        help="also drop results farther than D from the nearest training examples of their digit "
        f"(off by default: measured, it removed few non-digits the model keeps and dropped a "
        f"quarter of real scanned digits; {DEFAULT_MAX_NOVELTY} is its calibrated value)",
    )
    p.add_argument("--model", default=None, help="bundle folder (default: the shipped model)")
    p.add_argument(
        "--backend",
        type=backend_name,
        default="auto",
        help="inference backend (default auto; see 'edgedigits backends')",
    )
    p.add_argument("--device", default="auto", help="device of the backend (default auto)")
    p.add_argument("--precision", default="auto", help="fp32, fp16, int8 or auto")
    p.add_argument(
        "--threads",
        type=nonneg_int,
        default=1,
        metavar="N",
        help="CPU threads for inference and OpenCV (default 1: with a few small crops per frame one "
        "thread is fastest, and capture/decoding already run in their own thread; 0 = the "
        "libraries' defaults)",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="video/folder frames processed at once, one per thread (default 1; 2 or more use "
        "more cores for throughput, results stay in frame order; live sources use 1)",
    )
    p.add_argument(
        "--stall-timeout",
        type=positive_float,
        default=STALL_TIMEOUT_S,
        metavar="S",
        help="reconnect a live source after S seconds without a new frame (default %(default)g)",
    )
    p.add_argument(
        "--reconnects",
        type=positive_int,
        default=MAX_RECONNECTS,
        metavar="N",
        help="give up after N failed reconnection attempts in a row (default %(default)d)",
    )


def run(args) -> int:
    import cv2

    from ..camera.loop import Options, run_camera  # imports cv2
    from ..camera.overlay import check_video_path  # imports cv2
    from ..recognizer import Recognizer  # imports cv2

    if args.save:
        check_video_path(args.save)
    if args.threads:
        cv2.setNumThreads(args.threads)
    recognizer = Recognizer(
        args.model, backend=args.backend, device=args.device, precision=args.precision, threads=args.threads or None
    )
    options = Options(
        source=args.source,
        headless=args.headless,
        json=args.json,
        save=args.save,
        save_crops=args.save_crops,
        duration=args.duration,
        max_frames=args.max_frames,
        realtime=args.realtime,
        workers=args.workers,
        min_confidence=args.min_confidence,
        max_novelty=args.max_novelty or None,
        stall_timeout=args.stall_timeout,
        max_reconnects=args.reconnects,
    )
    with recognizer:
        run_camera(options, recognizer)
    return 0
