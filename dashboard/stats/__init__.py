"""Pure statistics for the dashboard: no Streamlit, no SQL, scipy for distributions."""
