"""memberportal: member pages, parcel inserts and a brand portal from member YAML records."""

__version__ = "0.1.0"
