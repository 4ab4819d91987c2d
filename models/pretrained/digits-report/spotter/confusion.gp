set terminal pngcairo size 900,640 noenhanced font ',10'
set output 'confusion.png'
set title 'Confusion matrix (rows: reference, columns: prediction)'
set xlabel 'prediction'
set ylabel 'reference'
set xrange [-0.5:10.5]
set yrange [10.5:-0.5]
set xtics rotate by 45 right ('zero' 0, 'one' 1, 'two' 2, 'three' 3, 'four' 4, 'five' 5, 'six' 6, 'seven' 7, 'eight' 8, 'nine' 9, '(none)' 10)
set ytics ('zero' 0, 'one' 1, 'two' 2, 'three' 3, 'four' 4, 'five' 5, 'six' 6, 'seven' 7, 'eight' 8, 'nine' 9, '(none)' 10)
set palette defined (0 'white', 1 '#08306b')
set cblabel 'clips'
set size square
plot 'confusion.dat' matrix with image notitle, '' matrix using 1:2:($3 > 0 ? sprintf('%d', $3) : '') with labels notitle
