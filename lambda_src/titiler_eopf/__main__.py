"""``python -m titiler_eopf [--host H] [--port P]``: serve the app locally with uvicorn."""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve TiTiler-EOPF locally")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args(argv)

    import uvicorn

    from titiler_eopf.main import create_app
    from titiler_eopf.settings import SettingsError, load_settings

    try:
        settings = load_settings()  # fails here, with the variable named, on bad config
    except SettingsError as exc:
        raise SystemExit(f"titiler-eopf: {exc}") from None
    app = create_app(settings)
    base = f"http://{args.host}:{args.port}"
    item = "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613"
    rgb = (
        "variables=/measurements/reflectance:b04&variables=/measurements/reflectance:b03"
        "&variables=/measurements/reflectance:b02&rescale=0,1"
        "&color_formula=gamma+rgb+1.3,+sigmoidal+rgb+6+0.1,+saturation+1.2"
    )
    print(
        "TiTiler-EOPF on",
        base,
        "- store:",
        settings.tiler.store_url,
        "- cache:",
        settings.cache.backend,
    )
    print(f"  home: {base}/  (every product of the store)")
    for collection in ("sentinel-2-l2a", "sentinel-2-l2a-geozarr"):
        print(f"  map:  {base}/collections/{collection}/items/{item}/map?{rgb}")
        print(f"  info: {base}/collections/{collection}/items/{item}/info")
    print(f"  docs: {base}/docs")
    # X-Forwarded-* are believed only from TITILER_EOPF_TRUSTED_PROXIES (uvicorn
    # trusts loopback by default: any local client could then pick the scheme
    # and client address the app sees).
    trusted = settings.tiler.trusted_proxies
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="info",
        proxy_headers=bool(trusted),
        forwarded_allow_ips=",".join(trusted) if trusted else None,
    )


if __name__ == "__main__":
    main()
