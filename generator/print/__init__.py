"""Print: parcel inserts, retention cards and notebooks as PDFs under output/print."""
