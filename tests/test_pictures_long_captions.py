"""Long captions wrap and stay inside the caption grid (issue 15): every text's drawn extent is inside the figure."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from helpers import visualization  # noqa: E402

FORTY_WORDS = " ".join(["a", "brown", "dog", "with", "a", "red", "collar", "runs", "across", "the"] * 4)
LONG_WORD = "w" * 150  # one "word" wider than any column (bold w is a wide letter)
WIDE_LINE = "WWWWWWWW MMMMMMMM " * 6  # short words of the widest letters


def _inside(figure):
    """Every non-empty text of the drawn figure lies inside the figure, and each title inside its column."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    frame = figure.bbox
    drawn = list(figure.texts) + ([figure._suptitle] if figure._suptitle else [])
    for axis in figure.axes:  # the axes are off: their titles and texts are what is drawn
        drawn += [axis.title, axis._left_title, axis._right_title, *axis.texts]
    texts = [t for t in drawn if t.get_text().strip() and t.get_visible()]
    assert texts
    for text in texts:
        box = text.get_window_extent(renderer)
        assert box.x0 >= frame.x0 - 1 and box.x1 <= frame.x1 + 1, (text.get_text()[:40], box, frame)
        assert box.y0 >= frame.y0 - 1 and box.y1 <= frame.y1 + 1, (text.get_text()[:40], box, frame)
    return texts


@pytest.mark.parametrize("columns", [1, 3])
def test_forty_word_caption_and_long_lines_stay_inside_the_figure(tmp_path, columns):
    paths = []
    for k in range(3):
        Image.new("RGB", (60, 40), ["red", "blue", "green"][k]).save(tmp_path / f"{k}.jpg")
        paths.append(tmp_path / f"{k}.jpg")
    figure = visualization.caption_grid(
        paths,
        [FORTY_WORDS, LONG_WORD, WIDE_LINE],
        [[FORTY_WORDS, LONG_WORD], [WIDE_LINE], ["short"]],
        columns=columns,
        title="A long caption test",
        path=tmp_path / "grid.png",
    )
    texts = _inside(figure)
    titles = [axis.title if axis.get_title() else axis._left_title for axis in figure.axes[:3]]
    heading = titles[0].get_text()
    assert heading.count("\n") >= 3 and heading.replace("\n", " ") == "model: " + FORTY_WORDS  # wrapped, not cut
    renderer = figure.canvas.get_renderer()
    for axis, title in zip(figure.axes, titles):  # each caption inside its own column too
        column = axis.get_window_extent(renderer)
        box = title.get_window_extent(renderer)
        assert box.x0 >= column.x0 - 1 and box.x1 <= column.x1 + 2, (title.get_text()[:30], box, column)
    # titles of a lower row do not run into the references of the row above
    if columns == 1:
        above = [t for t in texts if t.get_text().startswith("human:")][0].get_window_extent(renderer)
        assert titles[1].get_window_extent(renderer).y1 <= above.y0 + 1


def test_wrap_to_width_cuts_long_words_and_marks_cut_captions():
    measure = len  # one point per character
    assert visualization.wrap_to_width("aa bb cc", 5, measure) == ["aa bb", "cc"]
    assert visualization.wrap_to_width("x" * 12, 5, measure) == ["xxxxx", "xxxxx", "xx"]
    lines = visualization.wrap_to_width("one two three four five six", 9, measure, max_lines=2)
    assert lines == ["one two", "three…"] and all(len(line) <= 9 for line in lines)


def test_captions_of_portrait_photos_stay_in_their_own_column(tmp_path):
    """Real photos are often portrait (a Flickr8k thumbnail is 150x200): the picture is narrower than its column,
    and its caption, wrapped to the column's width, must still end before the next column's picture starts."""
    paths = []
    for k in range(4):
        Image.new("RGB", (150, 200) if k % 2 else (200, 150), "gray").save(tmp_path / f"{k}.jpg")
        paths.append(tmp_path / f"{k}.jpg")
    caption = "young boy is standing on the beach with the shoreline of the sea behind him"
    figure = visualization.caption_grid(paths, [caption] * 4, [["a boy on a beach"]] * 4, columns=4)
    _inside(figure)
    renderer = figure.canvas.get_renderer()
    axes = figure.axes[:4]
    titles = [axis.title if axis.get_title() else axis._left_title for axis in axes]
    for left, right, title in zip(axes, axes[1:], titles):
        assert title.get_window_extent(renderer).x1 <= right.get_window_extent(renderer).x0 + 1, title.get_text()
        assert left.get_window_extent(renderer).x0 <= title.get_window_extent(renderer).x0 + 1
