"""Everything that touches the outside world: database, files, schedules."""

import os

# Reports are reproduced byte for byte, and openpyxl writes a workbook's XML differently
# when lxml is installed (feedgen brings it). Keep openpyxl on the standard library's
# writer, which made every workbook archived so far; it reads this when first imported,
# and every process imports this package before openpyxl (render checks it did).
os.environ["OPENPYXL_LXML"] = "False"
