"""Test helpers shipped with the package: a real local fake LLM server.

Import ``provenance.testing.fakeserver`` explicitly; nothing is imported here
so that the package stays free of import-time work.
"""
