"""Labelling utilities that evaluation and inference share: runs of equal labels (:mod:`.runs`), Hungarian
matching of cluster ids to classes (:mod:`.matching`) and the k-means segmentation baseline (:mod:`.kmeans`)."""
