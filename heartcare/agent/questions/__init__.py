"""One builder per task: each turns a `RecordDescription` (or a pair) into QA items."""
