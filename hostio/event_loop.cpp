// hostio placeholder
