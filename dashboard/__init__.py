"""The KetaOps Streamlit dashboard: query layer, metrics, pages."""
