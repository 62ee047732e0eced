"""Classical baselines as scikit-learn estimators: plain LDA, PCA + LDA and 1-NN cosine library search.

* ``lda`` is the paper's baseline: plain Fisher LDA (``solver="svd"``, no shrinkage). With more wavenumbers (1024)
  than spectra per class the within-class scatter is singular; the SVD solver copes by discarding directions below
  ``tol``, so no regularisation is added. Pass ``shrinkage="auto"`` to get Ledoit-Wolf shrinkage (``lsqr`` solver)
  instead, which is usually a little better on small data but is no longer the paper's baseline.
* ``pca_lda`` first projects on the leading principal components, the textbook chemometrics recipe.
* ``knn_cosine`` is what RRUFF's own search does in spirit: return the label of the most similar library spectrum
  by cosine similarity (brute force, exact).
"""

from __future__ import annotations

from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from ramancmp.models.registry import register_model


@register_model("lda", kind="sklearn")
def lda(num_classes: int, in_length: int = 1024, shrinkage: float | str | None = None,
        tol: float = 1e-4) -> LinearDiscriminantAnalysis:
    """Plain LDA (SVD solver); ``shrinkage`` switches to the regularised ``lsqr`` solver."""
    if shrinkage is None:
        return LinearDiscriminantAnalysis(solver="svd", tol=tol)
    return LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage)


@register_model("pca_lda", kind="sklearn")
def pca_lda(num_classes: int, in_length: int = 1024, n_components: int | float = 50) -> Pipeline:
    """PCA (``n_components`` components, or a variance fraction if a float < 1) followed by plain LDA."""
    if isinstance(n_components, int) and not 1 <= n_components <= in_length:
        raise ValueError(f"n_components must be in [1, {in_length}], got {n_components}")
    return Pipeline([("pca", PCA(n_components=n_components, random_state=0)),
                     ("lda", LinearDiscriminantAnalysis(solver="svd"))])


@register_model("knn_cosine", kind="sklearn")
def knn_cosine(num_classes: int, in_length: int = 1024, n_neighbors: int = 1) -> KNeighborsClassifier:
    """Library search: the class of the nearest training spectrum by cosine distance."""
    return KNeighborsClassifier(n_neighbors=n_neighbors, metric="cosine", algorithm="brute")
