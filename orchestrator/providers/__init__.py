"""Where hosts come from. Every provider satisfies ``base.Provider``."""
