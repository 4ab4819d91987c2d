set terminal pngcairo size 900,640 noenhanced font ',10'
set output 'confusion.png'
set title 'Confusion matrix (rows: reference, columns: prediction)'
set xlabel 'prediction'
set ylabel 'reference'
set xrange [-0.5:1.5]
set yrange [1.5:-0.5]
set xtics rotate by 45 right ('jarvis' 0, '_unknown_' 1)
set ytics ('jarvis' 0, '_unknown_' 1)
set palette defined (0 'white', 1 '#08306b')
set cblabel 'clips'
set size square
plot 'confusion.dat' matrix with image notitle, '' matrix using 1:2:($3 > 0 ? sprintf('%d', $3) : '') with labels notitle
