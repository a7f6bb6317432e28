"""Helpers the test modules share (servers, fixtures builders, the pyx12 reference reader): not tests themselves."""
