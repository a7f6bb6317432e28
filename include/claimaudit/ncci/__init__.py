"""CMS NCCI edit sets (procedure-to-procedure pairs and medically unlikely edits) as versioned,
effective-dated reference data in the report DB: file layouts, importer, lookups."""
