"""``python -m medinfer.preprocess``: run the preprocessor with its settings."""

from medinfer.common.serve import serve
from medinfer.common.settings import load_settings
from medinfer.preprocess.app import create_app
from medinfer.preprocess.settings import PreprocessSettings

if __name__ == "__main__":
    settings = load_settings(PreprocessSettings)
    serve(create_app(settings), settings, tls_cert=settings.tls_cert_file, tls_key=settings.tls_key_file,
          client_ca=settings.tls_client_ca_file)
