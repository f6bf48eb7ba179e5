"""HLS export of int8 sub-networks (filled by the hls issue)."""
