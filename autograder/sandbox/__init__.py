"""Running untrusted student notebooks: isolation, the warm zygote, the wire format."""
