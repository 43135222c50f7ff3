"""Developer scripts, and the Streamlit-server and browser helpers that tests,
benchmarks and the scripts share (`scripts.app_server`, `scripts.browser`)."""
